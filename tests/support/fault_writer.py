"""A client process of the service fault test: posts fills or marks (each item with its own idempotency key, no
``ts``) to ``margincall serve`` until it has ``batches`` answered batches, retrying a batch with the same keys
whenever the server is gone (killed) or answers 5xx. Writes one line per item answered:
``ACK <key> <seq>`` or ``REFUSED <key> <code>``; a line is flushed before the next request, so a line on disk was
answered by the server.

    python fault_writer.py BASE_URL KEY fills|marks RUN_ID BATCHES OUT_FILE
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import httpx


def _fills(run: str, i: int, rng: random.Random, accounts: int) -> list[dict[str, Any]]:
    out = []
    for j in range(rng.randint(1, 6)):
        a, b = rng.sample(range(accounts), 2)
        size = f"0.00{rng.randint(1, 9)}"
        out += [{"account": f"w{a}", "symbol": "BTCUSDT", "side": "buy", "size": size, "price": "10000",
                 "key": f"{run}-{i}-{j}-a"},
                {"account": f"w{b}", "symbol": "BTCUSDT", "side": "sell", "size": size, "price": "10000",
                 "key": f"{run}-{i}-{j}-b"}]
    return out


def main(base: str, key: str, kind: str, run: str, batches: int, out_path: str, accounts: int = 8) -> None:
    rng = random.Random(run)
    headers = {"Authorization": f"Bearer {key}"}
    with open(out_path, "a", buffering=1) as out, httpx.Client(base_url=base, timeout=10) as client:
        for i in range(batches):
            if kind == "fills":
                path, body = "/v1/fills", {"fills": _fills(run, i, rng, accounts)}
                items = body["fills"]
            else:
                # a triangle between 10,000 and 9,100 (period 80 marks) with noise: the risky accounts cross their
                # margin-call and liquidation lines on the way down
                phase = (i % 80) / 40
                price = 10_000.0 - 900.0 * (phase if phase <= 1 else 2 - phase) + rng.uniform(-5, 5)
                path = "/v1/marks"
                items = [{"symbol": "BTCUSDT", "price": f"{price:.2f}", "key": f"{run}-m{i}"}]
                body = {"marks": items}
            while True:
                try:
                    r = client.post(path, json=body, headers=headers)
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if r.status_code >= 500 or r.status_code == 429:
                    time.sleep(0.05)
                    continue
                break
            answer = r.json()
            if "results" not in answer:
                out.write(f"REFUSED {path} {r.status_code}:{answer.get('error', {}).get('code')}\n")
                continue
            for item, res in zip(items, answer["results"], strict=True):
                if "error" in res:
                    out.write(f"REFUSED {item['key']} {res['error']['code']}\n")
                else:
                    out.write(f"ACK {item['key']} {res['seq']}\n")
            time.sleep(rng.uniform(0, 0.01))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
