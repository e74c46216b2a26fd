"""Plays WeChat Pay and Alipay: makes keys, signs (and for WeChat Pay encrypts) payment notifications, good and
bad, and asks each provider's own SDK from PyPI whether it accepts them; and has each SDK sign requests as the
merchant, which ours must sign to the same bytes (RSA PKCS #1 v1.5 is deterministic). Prints the cases as JSON
for the Rust test, which must reach the same verdicts. Nothing here is checked in: every key is made on each
run.

Usage: python3 notifications.py  (needs cryptography, wechatpayv3, python-alipay-sdk)
"""

import base64
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(k):
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(k):
    return k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def sign(k, data: bytes) -> str:
    return base64.b64encode(k.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def wechat():
    from wechatpayv3 import WeChatPay, WeChatPayType

    mchid, appid = "1900000109", "wxd678efh567hg6787"
    apiv3 = base64.b32encode(os.urandom(20)).decode()[:32]
    platform, other, merchant = new_key(), new_key(), new_key()
    serial = "PUB_KEY_ID_0114232134912410000000000000"
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE, mchid=mchid, private_key=private_pem(merchant),
        cert_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1", appid=appid, apiv3_key=apiv3,
        public_key=public_pem(platform), public_key_id=serial,
    )
    now = int(time.time())
    cases = []

    def transaction(out_trade_no, state, total, mch=mchid):
        return {
            "mchid": mch, "appid": appid, "out_trade_no": out_trade_no,
            "transaction_id": "42000000" + out_trade_no[-8:].rjust(8, "0"), "trade_type": "NATIVE",
            "trade_state": state, "trade_state_desc": "ok", "bank_type": "OTHERS", "attach": "",
            "success_time": "2026-12-06T10:00:00+08:00", "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
        }

    def body_of(tx, key=apiv3):
        nonce = base64.b32encode(os.urandom(10)).decode()[:12]
        sealed = AESGCM(key.encode()).encrypt(nonce.encode(), json.dumps(tx, ensure_ascii=False).encode(), b"transaction")
        return json.dumps({
            "id": "EV-" + tx["out_trade_no"], "create_time": "2026-12-06T10:00:01+08:00",
            "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(sealed).decode(), "associated_data": "transaction",
                         "nonce": nonce},
        }, ensure_ascii=False)

    def case(name, body, expect, ts=now, key=platform, ser=serial, after_sign=None, amount=None, paid=None,
             sdk=None):
        sealed = json.loads(body)["resource"]
        plain = json.loads(AESGCM(apiv3.encode()).decrypt(sealed["nonce"].encode(), base64.b64decode(sealed["ciphertext"]),
                                                          b"transaction")) if expect == "ok" else {}
        nonce = base64.b32encode(os.urandom(20)).decode()
        signature = sign(key, f"{ts}\n{nonce}\n{body}\n".encode())
        if after_sign is not None:
            body = after_sign(body)
        headers = {"Wechatpay-Timestamp": str(ts), "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                   "Wechatpay-Serial": ser, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}
        accepted = sdk.callback(headers, body) is not None if sdk is not None else None
        cases.append({"name": name, "headers": headers, "body": body, "expect": expect, "amount": amount,
                      "paid": paid, "sdk_accepts": accepted, "out_trade_no": plain.get("out_trade_no"),
                      "transaction_id": plain.get("transaction_id"),
                      "currency": plain.get("amount", {}).get("currency")})

    good = body_of(transaction("VV20261206000001", "SUCCESS", 5000))
    case("paid", good, "ok", amount=5000, paid=True, sdk=sdk)
    case("not paid yet", body_of(transaction("VV20261206000002", "NOTPAY", 1200)), "ok", amount=1200, paid=False,
         sdk=sdk)
    case("amount changed after signing", good, "payment_bad_signature", sdk=sdk,
         after_sign=lambda b: b.replace('"ciphertext": "', '"ciphertext": "A', 1))
    case("signed by another key", good, "payment_bad_signature", key=other, sdk=sdk)
    case("a platform key we do not hold", good, "payment_unknown_key", ser="PUB_KEY_ID_0000000000000000000000000000")
    case("sealed with another APIv3 key", body_of(transaction("VV20261206000003", "SUCCESS", 100),
                                                  key=base64.b32encode(os.urandom(20)).decode()[:32]),
         "payment_decrypt", sdk=sdk)
    case("another merchant's", body_of(transaction("VV20261206000004", "SUCCESS", 100, mch="1900000999")),
         "payment_other_merchant")
    case("signed ten minutes ago", good, "payment_stale", ts=now - 600)
    # The SDK's verdicts on what only signatures and sealing decide must be ours.
    for c in cases:
        if c["sdk_accepts"] is not None:
            assert c["sdk_accepts"] == (c["expect"] == "ok"), (c["name"], c["sdk_accepts"])
    # Requests signed as the merchant by the SDK, at a fixed clock and nonce.
    from wechatpayv3 import utils as wx_utils
    requests = []
    for method, path, body in [
        ("POST", "/v3/pay/transactions/native",
         json.dumps({"appid": appid, "mchid": mchid, "description": "电费 C-0101", "out_trade_no": "VV20261206000009",
                     "notify_url": "https://vend.example/api/v1/payments/wechat/notify",
                     "amount": {"total": 5000, "currency": "CNY"}}, ensure_ascii=False)),
        ("GET", "/v3/pay/transactions/out-trade-no/VV20261206000009?mchid=" + mchid, ""),
    ]:
        real_time = wx_utils.time.time
        wx_utils.time.time = lambda: 1764985600.25
        try:
            header = wx_utils.build_authorization(path, method, mchid, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                                                  merchant, data=body, nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242")
        finally:
            wx_utils.time.time = real_time
        requests.append({"method": method, "path": path, "body": body, "timestamp": 1764985600,
                         "nonce": "593BEC0C930BF1AFEB40B4A08C8FB242",
                         "serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "authorization": header})
    return {"mchid": mchid, "apiv3_key": apiv3, "platform": [{"serial": serial, "public_pem": public_pem(platform)}],
            "now": now, "cases": cases, "merchant_private_pem": private_pem(merchant), "requests": requests}


def alipay():
    from alipay import AliPay

    app_id = "2021000122600001"
    ours, theirs, other = new_key(), new_key(), new_key()
    # The provider's side is an SDK client with the keys the other way round: it signs with Alipay's key.
    provider = AliPay(appid=app_id, app_notify_url=None, app_private_key_string=private_pem(theirs),
                      alipay_public_key_string=public_pem(ours), sign_type="RSA2")
    forger = AliPay(appid=app_id, app_notify_url=None, app_private_key_string=private_pem(other),
                    alipay_public_key_string=public_pem(ours), sign_type="RSA2")
    merchant = AliPay(appid=app_id, app_notify_url=None, app_private_key_string=private_pem(ours),
                      alipay_public_key_string=public_pem(theirs), sign_type="RSA2")
    cases = []

    def params(out_trade_no, status, amount, **extra):
        p = {"gmt_create": "2026-12-06 10:00:00", "charset": "utf-8", "gmt_payment": "2026-12-06 10:00:05",
             "notify_time": "2026-12-06 10:00:06", "subject": "电费 Riverside C-0101", "buyer_id": "2088102177846880",
             "invoice_amount": amount, "version": "1.0", "notify_id": "2026120600222100006" + out_trade_no[-4:],
             "fund_bill_list": '[{"amount":"%s","fundChannel":"ALIPAYACCOUNT"}]' % amount,
             "notify_type": "trade_status_sync", "out_trade_no": out_trade_no, "total_amount": amount,
             "trade_status": status, "trade_no": "2026120622001446880500" + out_trade_no[-4:],
             "auth_app_id": app_id, "receipt_amount": amount, "point_amount": "0.00", "buyer_pay_amount": amount,
             "app_id": app_id, "seller_id": "2088102177649450", "passback_params": ""}
        p.update(extra)
        return p

    def case(name, p, expect, signer=provider, tamper=None, amount=None, paid=None, sign_type="RSA2",
             drop_sign=False):
        unsigned = "&".join(f"{k}={v}" for k, v in sorted(p.items()))
        signature = signer._sign(unsigned)
        if tamper:
            p = dict(p, **tamper)
        sent = dict(p, sign_type=sign_type)
        if not drop_sign:
            sent["sign"] = signature
        probe = {k: v for k, v in sent.items() if k != "sign"}
        try:
            accepted = (not drop_sign) and merchant.verify(probe, signature)
        except Exception:  # the SDK raises on a sign_type other than RSA2
            accepted = False
        cases.append({"name": name, "params": sorted(sent.items()), "expect": expect, "amount": amount,
                      "paid": paid, "sdk_accepts": accepted, "out_trade_no": p["out_trade_no"],
                      "transaction_id": p["trade_no"], "currency": p.get("trans_currency", "CNY")})

    case("paid", params("VV20261206000101", "TRADE_SUCCESS", "88.80"), "ok", amount=8880, paid=True)
    case("finished", params("VV20261206000102", "TRADE_FINISHED", "0.01"), "ok", amount=1, paid=True)
    case("waiting for the buyer", params("VV20261206000103", "WAIT_BUYER_PAY", "12.00"), "ok", amount=1200,
         paid=False)
    case("amount changed after signing", params("VV20261206000104", "TRADE_SUCCESS", "1.00"),
         "payment_bad_signature", tamper={"total_amount": "100.00"})
    case("signed by another key", params("VV20261206000105", "TRADE_SUCCESS", "5.00"), "payment_bad_signature",
         signer=forger)
    case("no signature", params("VV20261206000106", "TRADE_SUCCESS", "5.00"), "payment_malformed", drop_sign=True)
    case("RSA1 is not accepted", params("VV20261206000107", "TRADE_SUCCESS", "5.00"), "payment_malformed",
         sign_type="RSA")
    for c in cases:
        assert c["sdk_accepts"] == (c["expect"] == "ok"), (c["name"], c["sdk_accepts"])
    bare = "".join(public_pem(theirs).strip().splitlines()[1:-1])
    # A trade query signed as the merchant by the SDK; the sign is the last, URL-quoted parameter it returns.
    from urllib.parse import unquote_plus
    query = {"app_id": app_id, "method": "alipay.trade.query", "charset": "utf-8", "sign_type": "RSA2",
             "timestamp": "2026-12-06 10:05:00", "version": "1.0",
             "biz_content": json.dumps({"out_trade_no": "VV20261206000101"}, separators=(",", ":"))}
    signed = merchant.sign_data(dict(query))
    sign = unquote_plus(signed.rsplit("&sign=", 1)[1])
    bare_private = "".join(private_pem(ours).strip().splitlines()[1:-1])
    return {"app_id": app_id, "alipay_public_key": bare, "cases": cases, "merchant_private_key": bare_private,
            "request": {"params": sorted(query.items()), "sign": sign}}


if __name__ == "__main__":
    json.dump({"wechat": wechat(), "alipay": alipay()}, sys.stdout, ensure_ascii=False)
