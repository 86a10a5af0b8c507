"""CMS objects: SignedData, EnvelopedData, AuthEnvelopedData."""
