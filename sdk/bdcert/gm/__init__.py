"""National cryptography (国密): SM2/SM3, SM2 certificates, GB/T 38540 e-seals, OFD documents.

Needs the ``gm`` extra (``pip install bdcert[gm]``: tongsuopy, a native SM2 implementation).
"""
