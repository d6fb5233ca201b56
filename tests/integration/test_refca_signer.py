#!/usr/bin/env python3
"""The reference CA issues an approver's signing certificate, and its CRL
stays current.

    test_refca_signer.py CERTBRIDGE_REFCA

`certbridge-refca signer` against a running server's state: the key matches
the certificate, the certificate is the CA's (verified with the CA
certificate it wrote), for signing (digitalSignature, nonRepudiation), with
the subject asked, and recorded (GET /v1/certificates lists it); the CRL it
wrote is signed by the CA and current (thisUpdate now, nextUpdate a day
later). GET /v1/crl: with --crl-refresh-s 0 every request gets a new CRL
(the next CRL number); with the default, the same CRL until a revocation,
after which the signer's revoked certificate is on it.
"""
import datetime
import os
import sys
import tempfile
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_refca_restart import Refca  # noqa: E402

DN = ("CN=Nguyễn Thị Thanh Hương,title=Chủ tịch Ủy ban nhân dân tỉnh,"
      "O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN")


def fail(msg):
    sys.exit("FAIL: " + msg)


def crl_number(der):
    crl = x509.load_der_x509_crl(der)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def main():
    binary = sys.argv[1]
    import subprocess
    with tempfile.TemporaryDirectory() as work:
        ca = Refca(binary, work)
        ca.start()
        try:
            out = {n: os.path.join(work, n) for n in ("k.pem", "c.pem", "ca.pem", "crl.der")}
            subprocess.run([binary, "signer", "--state", os.path.join(work, "state"),
                            "--holder-id", "DN-LD-0001", "--subject", DN, "--key", out["k.pem"],
                            "--cert", out["c.pem"], "--ca-cert", out["ca.pem"],
                            "--crl", out["crl.der"]], check=True)
            if os.stat(out["k.pem"]).st_mode & 0o077:
                fail("the key file is readable by others")
            key = serialization.load_pem_private_key(open(out["k.pem"], "rb").read(), None)
            cert = x509.load_pem_x509_certificate(open(out["c.pem"], "rb").read())
            cacert = x509.load_pem_x509_certificate(open(out["ca.pem"], "rb").read())
            if key.public_key().public_numbers() != cert.public_key().public_numbers():
                fail("the key does not match the certificate")
            cert.verify_directly_issued_by(cacert)
            cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
            if cn != "Nguyễn Thị Thanh Hương":
                fail("CN %r" % cn)
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            if not (ku.digital_signature and ku.content_commitment) or ku.key_cert_sign:
                fail("key usage %s" % ku)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                fail("not an EC key")
            serial = "%X" % cert.serial_number
            status, body, _ = ca.call("/v1/certificates?" + urllib.parse.urlencode(
                {"holder_type": "PERSON", "holder_id": "DN-LD-0001"}))
            if status != 200 or [c["serial"] for c in body["certificates"]] != [serial]:
                fail("lookup of the signer: %s %s" % (status, body))
            crl = x509.load_der_x509_crl(open(out["crl.der"], "rb").read())
            if not crl.is_signature_valid(cacert.public_key()):
                fail("the CRL is not signed by the CA")
            now = datetime.datetime.now(datetime.timezone.utc)
            if not (now - datetime.timedelta(minutes=5) <= crl.last_update_utc <= now and
                    crl.next_update_utc >= now + datetime.timedelta(hours=23)):
                fail("CRL not current: %s .. %s" % (crl.last_update_utc, crl.next_update_utc))
            # the default refresh: the same CRL twice, a new one after a revocation
            a = ca.call("/v1/crl")[1]
            b = ca.call("/v1/crl")[1]
            if a != b:
                fail("the default refresh remade a CRL younger than 12 hours")
            status, _, _ = ca.call("/v1/certificates/%s/revoke" % serial,
                                   {"reason": "keyCompromise"}, key="signer-revoke")
            if status != 200:
                fail("revoke: %s" % status)
            c = ca.call("/v1/crl")[1]
            listed = [r.serial_number for r in x509.load_der_x509_crl(c)]
            if cert.serial_number not in listed or crl_number(c) <= crl_number(b):
                fail("the revoked signer is not on the next CRL")
        finally:
            ca.stop()
        # --crl-refresh-s 0: every request a fresh CRL
        ca.proc = None
        orig = ca.binary
        ca.binary = os.path.join(work, "refca-refresh0")
        with open(ca.binary, "w") as f:
            f.write('#!/bin/sh\nexec "%s" "$@" --crl-refresh-s 0\n' % orig)
        os.chmod(ca.binary, 0o755)
        ca.start()
        try:
            n1 = crl_number(ca.call("/v1/crl")[1])
            n2 = crl_number(ca.call("/v1/crl")[1])
            if n2 != n1 + 1:
                fail("--crl-refresh-s 0: CRL numbers %d then %d" % (n1, n2))
        finally:
            ca.stop()
    print("ok: signer certificate, current CRL, refresh")


if __name__ == "__main__":
    main()
