"""Plays WeChat Pay, Alipay and M-Pesa (Daraja) for the server's end-to-end payment test: makes the providers' keys,
and signs (for WeChat Pay also seals) payment notifications for orders the server made. Each notification is first checked
with the provider's own SDK from PyPI (wechatpayv3, python-alipay-sdk), so what the server is sent is what the
real provider would send. Nothing here is checked in: every key is made by `setup` on each run.

Usage:
  pay_provider.py setup DIR
      keys into DIR (the server's credentials files point at the public ones); prints {"mchid", "serial", "app_id"}
  pay_provider.py wechat DIR OUT_TRADE_NO TOTAL_FEN CURRENCY TRANSACTION_ID UNIX_TS SUCCESS_TIME
      prints {"headers": {...}, "body": "..."}
  pay_provider.py alipay DIR OUT_TRADE_NO TOTAL_YUAN TRADE_NO GMT_PAYMENT
      prints the form body (application/x-www-form-urlencoded)
  pay_provider.py order DIR OUT_TRADE_NO STATE TOTAL_FEN TRANSACTION_ID UNIX_TS
      records what the provider knows of an order, for `serve` to answer status queries with. STATE is the
      provider's (SUCCESS, NOTPAY, TRADE_SUCCESS, WAIT_BUYER_PAY…), `hang` (the query is never answered) or
      `forged` (a paid answer signed with a key that is not the provider's)
  pay_provider.py mpesa-state DIR CHECKOUT_REQUEST_ID STATE
      what Daraja knows of an STK push: pending (the prompt is on the phone), paid, cancelled (1032) or hang;
      the last push's CheckoutRequestID is in DIR/mpesa/last.txt, and while DIR/mpesa/garble exists a push is
      made but answered with something that is not Daraja's answer
  pay_provider.py serve DIR
      the providers' APIs on 127.0.0.1 (WeChat Pay's Native order and order query, Alipay's gateway: precreate
      and query; Daraja's OAuth token, STK push and STK push query), checking that each request is signed by the
      merchant (Daraja: a token it issued and the documented password); an order made is recorded as unpaid,
      with the amount, expiry and notify URL asked for; prints the port, then serves until killed

Daraja has no SDK of its own on PyPI to judge by: the fake follows Safaricom's published request and answer
shapes (docs/research/payments.md), and checks every field the server sends against them.
"""

import base64
import json
import os
import sys
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MCHID, APPID, SERIAL, ALIPAY_APP = "1900000109", "wxd678efh567hg6787", "PUB_KEY_ID_0114232134912410000000000001", "2021000122600001"
SHORT_CODE = "174379"


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()).decode()


def public_pem(k):
    return k.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read()


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def load_private(d, name):
    return serialization.load_pem_private_key(read(d, name).encode(), password=None)


def setup(d):
    os.makedirs(d, exist_ok=True)
    platform, merchant, alipay_side, app = new_key(), new_key(), new_key(), new_key()
    write(d, "wechat_platform.key", private_pem(platform))
    write(d, "wechat_platform.pem", public_pem(platform))
    write(d, "wechat_merchant.key", private_pem(merchant))
    write(d, "apiv3.txt", base64.b32encode(os.urandom(20)).decode()[:32])
    write(d, "alipay.key", private_pem(alipay_side))
    write(d, "alipay_public.pem", public_pem(alipay_side))
    write(d, "app.key", private_pem(app))
    write(d, "app_public.pem", public_pem(app))
    write(d, "mpesa_consumer_key.txt", base64.b32encode(os.urandom(20)).decode())
    write(d, "mpesa_consumer_secret.txt", base64.b32encode(os.urandom(10)).decode())
    write(d, "mpesa_passkey.txt", os.urandom(32).hex())
    os.makedirs(os.path.join(d, "mpesa"), exist_ok=True)
    print(json.dumps({"mchid": MCHID, "serial": SERIAL, "app_id": ALIPAY_APP}))


def wechat(d, out_trade_no, total, currency, txn, ts, success_time):
    from wechatpayv3 import WeChatPay, WeChatPayType

    apiv3 = read(d, "apiv3.txt").strip()
    platform = load_private(d, "wechat_platform.key")
    tx = {
        "mchid": MCHID, "appid": APPID, "out_trade_no": out_trade_no, "transaction_id": txn, "trade_type": "NATIVE",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
        "success_time": success_time, "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": int(total), "payer_total": int(total), "currency": currency, "payer_currency": currency},
    }
    nonce = base64.b32encode(os.urandom(10)).decode()[:12]
    sealed = AESGCM(apiv3.encode()).encrypt(nonce.encode(), json.dumps(tx, ensure_ascii=False).encode(), b"transaction")
    body = json.dumps({
        "id": "EV-" + txn, "create_time": success_time, "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": base64.b64encode(sealed).decode(), "associated_data": "transaction", "nonce": nonce},
    }, ensure_ascii=False)
    sig_nonce = base64.b32encode(os.urandom(20)).decode()
    signature = base64.b64encode(platform.sign(f"{ts}\n{sig_nonce}\n{body}\n".encode(), padding.PKCS1v15(),
                                               hashes.SHA256())).decode()
    headers = {"Wechatpay-Timestamp": str(ts), "Wechatpay-Nonce": sig_nonce, "Wechatpay-Signature": signature,
               "Wechatpay-Serial": SERIAL, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}
    # The SDK judges it as a merchant would (it checks signature and sealing, not the time: ours does both).
    sdk = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=MCHID, private_key=read(d, "wechat_merchant.key"),
                    cert_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1", appid=APPID, apiv3_key=apiv3,
                    public_key=read(d, "wechat_platform.pem"), public_key_id=SERIAL)
    assert sdk.callback(headers, body) is not None, "wechatpayv3 refuses the notification"
    print(json.dumps({"headers": headers, "body": body}, ensure_ascii=False))


def alipay(d, out_trade_no, amount, trade_no, gmt_payment):
    from alipay import AliPay

    # The provider is an SDK client with the keys the other way round: it signs with Alipay's key.
    provider = AliPay(appid=ALIPAY_APP, app_notify_url=None, app_private_key_string=read(d, "alipay.key"),
                      alipay_public_key_string=read(d, "app_public.pem"), sign_type="RSA2")
    merchant = AliPay(appid=ALIPAY_APP, app_notify_url=None, app_private_key_string=read(d, "app.key"),
                      alipay_public_key_string=read(d, "alipay_public.pem"), sign_type="RSA2")
    p = {"gmt_create": gmt_payment, "charset": "utf-8", "gmt_payment": gmt_payment, "notify_time": gmt_payment,
         "subject": "电费 A-101", "buyer_id": "2088102177846880", "invoice_amount": amount, "version": "1.0",
         "notify_id": "20261206002221000" + trade_no[-6:], "notify_type": "trade_status_sync",
         "out_trade_no": out_trade_no, "total_amount": amount, "trade_status": "TRADE_SUCCESS", "trade_no": trade_no,
         "auth_app_id": ALIPAY_APP, "receipt_amount": amount, "buyer_pay_amount": amount, "app_id": ALIPAY_APP,
         "seller_id": "2088102177649450"}
    signature = provider._sign("&".join(f"{k}={v}" for k, v in sorted(p.items())))
    assert merchant.verify(dict(p), signature), "python-alipay-sdk refuses the notification"
    print(urlencode(dict(p, sign_type="RSA2", sign=signature)))


def order(d, no, state, total, txn, ts):
    os.makedirs(os.path.join(d, "orders"), exist_ok=True)
    write(d, f"orders/{no}.json", json.dumps({"state": state, "total": int(total), "txn": txn, "ts": int(ts)}))


def mpesa_state(d, checkout, state):
    write(d, f"mpesa/{checkout}.json", json.dumps({"state": state}))


def serve(d):
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qsl, urlsplit

    from alipay import AliPay

    merchant_public = load_private(d, "wechat_merchant.key").public_key()
    platform = load_private(d, "wechat_platform.key")
    alipay_side = AliPay(appid=ALIPAY_APP, app_notify_url=None, app_private_key_string=read(d, "alipay.key"),
                         alipay_public_key_string=read(d, "app_public.pem"), sign_type="RSA2")
    app_side = AliPay(appid=ALIPAY_APP, app_notify_url=None, app_private_key_string=read(d, "app.key"),
                      alipay_public_key_string=read(d, "alipay_public.pem"), sign_type="RSA2")

    consumer = (read(d, "mpesa_consumer_key.txt"), read(d, "mpesa_consumer_secret.txt"))
    passkey = read(d, "mpesa_passkey.txt")
    tokens = set()

    def daraja_error(code, message):
        return json.dumps({"requestId": "16813-1590513-1", "errorCode": code, "errorMessage": message})

    def known(no):
        path = os.path.join(d, "orders", f"{no}.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, headers=()):
            data = body.encode()
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # WeChat Pay: GET /v3/pay/transactions/out-trade-no/{no}?mchid=…
            if self.path == "/oauth/v1/generate?grant_type=client_credentials":
                auth = self.headers.get("Authorization", "")
                given = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""
                if given != "%s:%s" % consumer:
                    return self.answer(400, daraja_error("400.008.01", "Invalid Authentication passed"))
                token = base64.b32encode(os.urandom(15)).decode()
                tokens.add(token)
                with open(os.path.join(d, "mpesa", "tokens.count"), "a") as f:
                    f.write("1")
                return self.answer(200, json.dumps({"access_token": token, "expires_in": "3599"}))
            fields = self.wechat_signed("GET", "")
            if fields is None:
                return self.answer(401, json.dumps({"code": "SIGN_ERROR", "message": "bad signature"}))
            url = urlsplit(self.path)
            no = url.path.rsplit("/", 1)[-1]
            if dict(parse_qsl(url.query)).get("mchid") != MCHID:
                return self.answer(400, json.dumps({"code": "PARAM_ERROR", "message": "mchid"}))
            o = known(no)
            if o is None:
                return self.answer(404, json.dumps({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}))
            if o["state"] == "hang":
                time.sleep(600)
                return
            forged = o["state"] == "forged"
            state = "SUCCESS" if forged else o["state"]
            tx = {"mchid": MCHID, "appid": APPID, "out_trade_no": no, "trade_type": "NATIVE", "trade_state": state,
                  "trade_state_desc": state, "amount": {"total": o["total"], "currency": "CNY"}}
            if state == "SUCCESS":
                tx.update({"transaction_id": o["txn"], "success_time": "2026-11-23T16:01:00+08:00",
                           "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}})
            body = json.dumps(tx, ensure_ascii=False)
            if not forged:
                return self.wechat_answer(200, body, fields["timestamp"])
            nonce = base64.b32encode(os.urandom(20)).decode()
            signature = base64.b64encode(new_key().sign(f"{fields['timestamp']}\n{nonce}\n{body}\n".encode(),
                                                        padding.PKCS1v15(), hashes.SHA256())).decode()
            self.answer(200, body, [("Wechatpay-Timestamp", fields["timestamp"]), ("Wechatpay-Nonce", nonce),
                                    ("Wechatpay-Signature", signature), ("Wechatpay-Serial", SERIAL),
                                    ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")])

        def wechat_signed(self, method, body):
            auth = self.headers.get("Authorization", "")
            fields = dict(part.split("=", 1) for part in auth.split(" ", 1)[-1].split(","))
            fields = {k: v.strip('"') for k, v in fields.items()}
            message = f"{method}\n{self.path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n".encode()
            try:
                merchant_public.verify(base64.b64decode(fields.get("signature", "")), message, padding.PKCS1v15(),
                                       hashes.SHA256())
            except Exception:
                return None
            return fields if fields.get("mchid") == MCHID else None

        def wechat_answer(self, status, body, ts):
            nonce = base64.b32encode(os.urandom(20)).decode()
            signature = base64.b64encode(platform.sign(f"{ts}\n{nonce}\n{body}\n".encode(), padding.PKCS1v15(),
                                                       hashes.SHA256())).decode()
            self.answer(status, body, [("Wechatpay-Timestamp", str(ts)), ("Wechatpay-Nonce", nonce),
                                       ("Wechatpay-Signature", signature), ("Wechatpay-Serial", SERIAL),
                                       ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")])

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            if self.path.startswith("/mpesa/"):
                return self.daraja(raw)
            if self.path == "/v3/pay/transactions/native":
                fields = self.wechat_signed("POST", raw)
                if fields is None:
                    return self.answer(401, json.dumps({"code": "SIGN_ERROR", "message": "bad signature"}))
                o = json.loads(raw)
                assert o["mchid"] == MCHID and o["appid"] == APPID and o["notify_url"].startswith("https://")
                assert o["time_expire"].endswith("+08:00") and o["amount"]["total"] > 0
                no = o["out_trade_no"]
                if known(no) is None:
                    order(d, no, "NOTPAY", o["amount"]["total"], "", fields["timestamp"])
                    write(d, f"orders/{no}.asked.json", raw)
                return self.wechat_answer(200, json.dumps({"code_url": "weixin://wxpay/bizpayurl?pr=" + no[:10]}),
                                          fields["timestamp"])
            # Alipay's gateway: alipay.trade.precreate and alipay.trade.query.
            params = dict(parse_qsl(raw, keep_blank_values=True))
            sign = params.pop("sign", "")
            unsigned = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
            method = params.get("method")
            if method == "alipay.trade.precreate" and alipay_side._verify(unsigned, sign):
                biz = json.loads(params["biz_content"])
                no = biz["out_trade_no"]
                assert params["notify_url"].startswith("https://") and len(biz["time_expire"]) == 19
                yuan, _, fen = biz["total_amount"].partition(".")
                if known(no) is None:
                    order(d, no, "WAIT_BUYER_PAY", int(yuan) * 100 + int(fen or 0), "", 0)
                    write(d, f"orders/{no}.asked.json", json.dumps(dict(params, biz_content=biz)))
                inner = json.dumps({"code": "10000", "msg": "Success", "out_trade_no": no,
                                    "qr_code": "https://qr.alipay.com/bax0" + no[:10]})
                raw_answer = '{"alipay_trade_precreate_response":%s,"sign":"%s"}' % (inner, alipay_side._sign(inner))
                app_side._verify_and_return_sync_response(raw_answer, "alipay_trade_precreate_response")
                return self.answer(200, raw_answer)
            if not alipay_side._verify(unsigned, sign) or method != "alipay.trade.query":
                inner = json.dumps({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"})
            else:
                no = json.loads(params["biz_content"])["out_trade_no"]
                o = known(no)
                if o is not None and o["state"] == "hang":
                    time.sleep(600)
                    return
                if o is None:
                    inner = json.dumps({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST",
                                        "sub_msg": "交易不存在"}, ensure_ascii=False)
                else:
                    inner = json.dumps({"code": "10000", "msg": "Success", "trade_no": o["txn"], "out_trade_no": no,
                                        "buyer_logon_id": "159****5620", "trade_status": o["state"],
                                        "total_amount": "%d.%02d" % divmod(o["total"], 100),
                                        "send_pay_date": "2026-11-23 16:01:00"}, ensure_ascii=False)
            raw = '{"alipay_trade_query_response":%s,"sign":"%s"}' % (inner, alipay_side._sign(inner))
            # The SDK, as a merchant, must accept what we answer.
            app_side._verify_and_return_sync_response(raw, "alipay_trade_query_response")
            self.answer(200, raw)

        def daraja(self, raw):
            import re

            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in tokens:
                return self.answer(401, daraja_error("404.001.04", "Invalid Access Token"))
            o = json.loads(raw)
            ts = o.get("Timestamp", "")
            expected = base64.b64encode((SHORT_CODE + passkey + ts).encode()).decode()
            if o.get("BusinessShortCode") != SHORT_CODE or not re.fullmatch(r"\d{14}", ts) or o.get("Password") != expected:
                return self.answer(400, daraja_error("400.002.02", "Bad Request - Invalid Password"))
            if self.path == "/mpesa/stkpush/v1/processrequest":
                assert o["TransactionType"] in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"), o
                assert isinstance(o["Amount"], int) and o["Amount"] > 0, o
                assert re.fullmatch(r"254[17]\d{8}", o["PhoneNumber"]) and o["PartyA"] == o["PhoneNumber"], o
                assert o["PartyB"] == SHORT_CODE or o["TransactionType"] == "CustomerBuyGoodsOnline", o
                assert o["CallBackURL"].startswith("https://"), o
                assert 0 < len(o["AccountReference"]) <= 12 and 0 < len(o["TransactionDesc"]) <= 13, o
                checkout = "ws_CO_%s%s" % (ts, os.urandom(5).hex())
                write(d, f"mpesa/{checkout}.asked.json", raw)
                mpesa_state(d, checkout, "pending")
                write(d, "mpesa/last.txt", checkout)
                if os.path.exists(os.path.join(d, "mpesa", "garble")):
                    # The prompt is out, but its answer is lost on the way.
                    return self.answer(200, "<html>gateway timeout</html>")
                return self.answer(200, json.dumps({
                    "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout, "ResponseCode": "0",
                    "ResponseDescription": "Success. Request accepted for processing",
                    "CustomerMessage": "Success. Request accepted for processing"}))
            if self.path == "/mpesa/stkpushquery/v1/query":
                checkout = o.get("CheckoutRequestID", "")
                path = os.path.join(d, "mpesa", f"{os.path.basename(checkout)}.json")
                if not os.path.exists(path):
                    return self.answer(400, daraja_error("400.002.02", "Bad Request - Invalid CheckoutRequestID"))
                with open(path) as f:
                    state = json.load(f)["state"]
                if state == "hang":
                    time.sleep(600)
                    return
                if state == "pending":
                    return self.answer(500, daraja_error("500.001.1001", "The transaction is being processed"))
                code, desc = {"paid": ("0", "The service request is processed successfully."),
                              "cancelled": ("1032", "Request cancelled by user")}[state]
                return self.answer(200, json.dumps({
                    "ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
                    "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout, "ResultCode": code,
                    "ResultDesc": desc}))
            self.answer(404, daraja_error("404.001.01", "Resource not found"))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "wechat": wechat, "alipay": alipay, "order": order, "mpesa-state": mpesa_state, "serve": serve}[cmd](*args)
