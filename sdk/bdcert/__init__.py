"""bdcert: real-estate registration e-certificates (不动产登记电子证照) and e-seals."""
