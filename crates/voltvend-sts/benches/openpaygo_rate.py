# The `openpaygo` package's (PyPI) rate for one standard ADD_TIME token at count 100 on this machine: the peer
# baseline of `cargo bench -p voltvend-sts --bench tokens` and `voltvend bench tokens`.
# Run as `python3 -c "<this file>" SECONDS`; prints "<tokens per second> <new count> <token>".
import sys
import time

from openpaygo.token_encode import OpenPAYGOTokenEncoder
from openpaygo.token_shared import TokenType

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def one():
    return OpenPAYGOTokenEncoder.generate_token(
        secret_key="bc41ec9530f6dac86b1a29ab82edc5fb", count=100, value=7, token_type=TokenType.ADD_TIME,
        starting_code=516959010)


n, started = 0, time.perf_counter()
while True:
    for _ in range(50):
        one()
    n += 50
    if time.perf_counter() - started >= seconds:
        break
rate = n / (time.perf_counter() - started)
count, token = one()
print(f"{rate:.1f} {count} {token}")
