"""Checking seals (pyHanko's ``sign/validation`` split): making them is :mod:`bdcert.sealing`.

- :mod:`bdcert.verify.pipeline`: the one check pipeline, its verdict codes and their order,
  with the crypto step a parameter.
- :mod:`bdcert.verify.pades`: PAdES seals (:func:`~bdcert.verify.pades.check_pdf_seal`).
- :mod:`bdcert.verify.pdf_sm2`: SM2 seals in PDF (:func:`~bdcert.verify.pdf_sm2.check_pdf_sm2`).
- :mod:`bdcert.verify.ofd`: GB/T 38540 seals in OFD (:func:`~bdcert.verify.ofd.verify_ofd`).
- :mod:`bdcert.verify.report`: a verification explained check by check
  (:class:`~bdcert.verify.report.VerificationReport`).
"""
