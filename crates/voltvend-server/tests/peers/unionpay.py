"""Plays UnionPay (全渠道, version 5.1.0, signMethod 01) for the server's end-to-end payment test: makes a root and
an intermediate certificate as the channel's trust, UnionPay's signing certificate under them (and a few that must
be refused), and signs back notifications the way UnionPay's acp SDK does: RSA-SHA256 (PKCS #1 v1.5) over the
lower-case hex SHA-256 of the sorted `name=value&…` string of every parameter but `signature`, with the signing
certificate itself sent as `signPubKeyCert` (PEM with CRLF line breaks). No UnionPay SDK is on PyPI; the layout
follows the acp SDK's SDKUtil/SecureUtil/CertUtil (docs/research/payments.md §3). Nothing here is checked in:
every key and certificate is made by `setup` on each run.

Usage:
  unionpay.py setup DIR
      unionpay_root.pem and unionpay_middle.pem (what the channel trusts) and the signers' keys into DIR
  unionpay.py check DIR FIELDS_JSON
      checks a front consumption order's fields as UnionPay's gateway would (signed by the merchant's key whose
      certId they name, for this merchant, 5.1.0, 156); prints the fields the order asks for
  unionpay.py order DIR ORDER_ID STATE TXN_AMT QUERY_ID
      what UnionPay knows of an order, for `serve`: paid (origRespCode 00) or unpaid
  unionpay.py serve DIR
      UnionPay's queryTrans.do on 127.0.0.1, checking that each query is signed by the merchant; answers signed
      by UnionPay's certificate (respCode 34 for an order it does not know); prints the port, then serves
  unionpay.py notify DIR SIGNER MER_ID ORDER_ID TXN_AMT QUERY_ID TXN_TIME RESP_CODE TRACE_TIME
      prints the notification's form body. SIGNER: good (UnionPay's, valid), expired (UnionPay's, lapsed),
      bmp (as good, its common name a BMPString), stranger (valid, issued by the trusted intermediate to another
      organisation), rogue (UnionPay's name,
      issued by an intermediate the channel does not trust), tampered (good, then txnAmt changed after signing)
"""

import base64
import datetime
import hashlib
import json
import os
import sys
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

ORG = "中国银联股份有限公司"


def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cert(subject_cn, subject_key, issuer_cert, issuer_key, start, end, ca, bmp=False):
    # Some CAs write the common name as BMPString (UCS-2) rather than UTF8String.
    kind = {"_type": _ASN1Type.BMPString} if bmp else {}
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CFCA TEST"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject_cn, **kind)])
    issuer = issuer_cert.subject if issuer_cert is not None else name
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(subject_key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(issuer_key, hashes.SHA256())


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM).decode()


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read()


def setup(d):
    os.makedirs(d, exist_ok=True)
    t = lambda y, m, day: datetime.datetime(y, m, day, tzinfo=datetime.timezone.utc)
    root_key, middle_key = key(), key()
    root = cert("CFCA TEST CS CA", root_key, None, root_key, t(2020, 1, 1), t(2040, 1, 1), True)
    middle = cert("CFCA TEST OCA1", middle_key, root, root_key, t(2020, 1, 1), t(2035, 1, 1), True)
    rogue_root_key, rogue_middle_key = key(), key()
    rogue_root = cert("CFCA TEST CS CA", rogue_root_key, None, rogue_root_key, t(2020, 1, 1), t(2040, 1, 1), True)
    rogue_middle = cert("CFCA TEST OCA1", rogue_middle_key, rogue_root, rogue_root_key, t(2020, 1, 1),
                        t(2035, 1, 1), True)
    signers = {
        "good": (f"041@Z2024@{ORG}@00000001", middle, middle_key, t(2026, 1, 1), t(2028, 1, 1)),
        "expired": (f"041@Z2020@{ORG}@00000001", middle, middle_key, t(2020, 1, 1), t(2021, 1, 1)),
        "stranger": ("041@Z2024@某某科技有限公司@00000002", middle, middle_key, t(2026, 1, 1), t(2028, 1, 1)),
        "rogue": (f"041@Z2024@{ORG}@00000001", rogue_middle, rogue_middle_key, t(2026, 1, 1), t(2028, 1, 1)),
        "bmp": (f"041@Z2024@{ORG}@00000001", middle, middle_key, t(2026, 1, 1), t(2028, 1, 1)),
    }
    for name, (cn, issuer, issuer_key, start, end) in signers.items():
        k = key()
        write(d, f"unionpay_{name}.key", k.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()).decode())
        # UnionPay sends its certificate with CRLF line breaks.
        leaf = cert(cn, k, issuer, issuer_key, start, end, False, bmp=name == "bmp")
        write(d, f"unionpay_{name}.pem", pem(leaf).replace("\n", "\r\n"))
    merchant = key()
    write(d, "unionpay_merchant.key", merchant.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()).decode())
    write(d, "unionpay_merchant.pem", merchant.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    os.makedirs(os.path.join(d, "unionpay_orders"), exist_ok=True)
    write(d, "unionpay_root.pem", pem(root))
    write(d, "unionpay_middle.pem", pem(middle))


def digest(params):
    s = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
    return hashlib.sha256(s.encode()).hexdigest()


def notify(d, signer, mer_id, order_id, txn_amt, query_id, txn_time, resp_code, trace_time):
    name = "good" if signer == "tampered" else signer
    k = serialization.load_pem_private_key(read(d, f"unionpay_{name}.key").encode(), password=None)
    with open(os.path.join(d, f"unionpay_{name}.pem"), newline="") as f:
        leaf = f.read()
    p = {"accessType": "0", "bizType": "000201", "currencyCode": "156", "encoding": "utf-8", "merId": mer_id,
         "orderId": order_id, "queryId": query_id, "respCode": resp_code, "respMsg": "成功[0000000]",
         "settleAmt": txn_amt, "settleCurrencyCode": "156", "settleDate": txn_time[4:8], "signMethod": "01",
         "signPubKeyCert": leaf, "traceNo": query_id[-6:], "traceTime": trace_time, "txnAmt": txn_amt,
         "txnSubType": "01", "txnTime": txn_time, "txnType": "01", "version": "5.1.0"}
    signature = k.sign(digest(p).encode(), padding.PKCS1v15(), hashes.SHA256())
    # Self-check with the certificate's key, as a merchant's acp SDK would.
    x509.load_pem_x509_certificate(leaf.encode()).public_key().verify(signature, digest(p).encode(),
                                                                      padding.PKCS1v15(), hashes.SHA256())
    p["signature"] = base64.b64encode(signature).decode()
    if signer == "tampered":
        p["txnAmt"] = str(int(txn_amt) * 10)
    print(urlencode(p))


CERT_ID, MER_ID = "69629715588", "777290058110048"


def merchant_signed(d, fields):
    """That `fields` (a dict) carry the merchant's signature over the rest, as UnionPay checks requests."""
    merchant = serialization.load_pem_public_key(read(d, "unionpay_merchant.pem").encode())
    try:
        merchant.verify(base64.b64decode(fields.get("signature", "")), digest(fields).encode(), padding.PKCS1v15(),
                        hashes.SHA256())
    except Exception:
        return False
    return fields.get("certId") == CERT_ID and fields.get("merId") == MER_ID and fields.get("version") == "5.1.0"


def check(d, fields_json):
    fields = json.loads(fields_json)
    assert merchant_signed(d, fields), "the order is not signed by the merchant"
    assert fields["txnType"] == "01" and fields["currencyCode"] == "156" and fields["signMethod"] == "01", fields
    assert fields["backUrl"].startswith("https://") and len(fields["txnTime"]) == 14 and len(fields["payTimeout"]) == 14
    print(json.dumps({k: fields[k] for k in ("orderId", "txnAmt", "txnTime", "payTimeout", "backUrl", "frontUrl")}))


def order(d, order_id, state, txn_amt, query_id):
    write(d, f"unionpay_orders/{order_id}.json",
          json.dumps({"state": state, "txnAmt": txn_amt, "queryId": query_id}))


def signed_answer(d, p):
    k = serialization.load_pem_private_key(read(d, "unionpay_good.key").encode(), password=None)
    with open(os.path.join(d, "unionpay_good.pem"), newline="") as f:
        p = dict(p, signPubKeyCert=f.read(), signMethod="01", version="5.1.0", encoding="UTF-8")
    p["signature"] = base64.b64encode(k.sign(digest(p).encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    # A synchronous answer is written as it is, not URL-encoded.
    return "&".join(f"{k}={v}" for k, v in p.items())


def serve(d):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qsl

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            fields = dict(parse_qsl(raw, keep_blank_values=True))
            if self.path != "/gateway/api/queryTrans.do" or not merchant_signed(d, fields):
                body = "respCode=11&respMsg=验证签名失败"
            else:
                path = os.path.join(d, "unionpay_orders", f"{os.path.basename(fields['orderId'])}.json")
                common = {"merId": MER_ID, "orderId": fields["orderId"], "txnTime": fields["txnTime"],
                          "txnType": "00", "txnSubType": "00", "bizType": "000000", "accessType": "0"}
                if not os.path.exists(path):
                    body = signed_answer(d, dict(common, respCode="34", respMsg="查无此交易"))
                else:
                    with open(path) as f:
                        o = json.load(f)
                    orig = "00" if o["state"] == "paid" else "05"
                    body = signed_answer(d, dict(common, respCode="00", respMsg="成功[0000000]", origRespCode=orig,
                                                 origRespMsg="成功", queryId=o["queryId"], txnAmt=o["txnAmt"],
                                                 currencyCode="156", settleAmt=o["txnAmt"],
                                                 traceTime="1123160200"))
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "notify": notify, "check": check, "order": order, "serve": serve}[cmd](*args)
