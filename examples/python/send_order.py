"""Place an order and queue its confirmation email in ONE transaction.

The order row and the email commit together or not at all: mailer.send_email()
writes the email inside this transaction and starts nothing; the relay in the
mailer workers starts it right after the COMMIT. Then the email's status is
read back until it is final.

    pip install -r requirements.txt
    DATABASE_URL=postgres://user:pass@host:5432/app python send_order.py --to ann@example.com
    python send_order.py --to ann@example.com --rollback     # nothing is sent, nothing is stored
    python send_order.py --to ann@example.com --message '{"from": "shop@acme.example", "to": []}'

Prints one JSON object; exits 2 when the database refused the message.
"""
import argparse
import json
import os
import sys
import time

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

FINAL = {"sent", "blocked", "failed", "cancelled", "rejected"}


def confirmation(to: str, order_id: int, item: str) -> dict:
    # The same shape as send()'s input in Node; attachments' content is base64.
    return {
        "from": "Acme Shop <shop@acme.example>",
        "to": [to],
        "subject": f"Order {order_id} confirmed",
        "text": f"Thank you for ordering: {item}.",
        "attachments": [
            {"filename": "receipt.txt", "content": "UmVjZWlwdDogcGFpZC4=", "contentType": "text/plain"},
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--to", required=True, help="the customer's address")
    parser.add_argument("--item", default="widget")
    parser.add_argument("--rollback", action="store_true", help="roll the transaction back instead of committing")
    parser.add_argument("--message", help="submit this JSON message instead of the confirmation")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a final status")
    args = parser.parse_args()
    url = os.environ.get("MAILER_DATABASE_URL") or os.environ["DATABASE_URL"]
    schema = sql.Identifier(os.environ.get("MAILER_SCHEMA", "mailer"))

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, item text NOT NULL, email text NOT NULL)")
        try:
            # BEGIN … COMMIT (or ROLLBACK with --rollback, or on any error).
            with conn.transaction(force_rollback=args.rollback):
                order_id = conn.execute(
                    "INSERT INTO orders (item, email) VALUES (%s, %s) RETURNING id", (args.item, args.to)
                ).fetchone()[0]
                message = json.loads(args.message) if args.message else confirmation(args.to, order_id, args.item)
                email_id = conn.execute(
                    sql.SQL("SELECT {}.send_email(%s, %s)").format(schema),
                    (Jsonb(message), f"order-{order_id}-confirmation"),
                ).fetchone()[0]
        except psycopg.Error as e:
            # A malformed message is refused at call time: SQLSTATE 22023, the field in the error's column.
            print(json.dumps({"error": {"sqlstate": e.sqlstate, "field": e.diag.column_name, "message": e.diag.message_primary}}))
            return 2
        if args.rollback:
            print(json.dumps({"rolledBack": True, "orderId": order_id, "emailId": str(email_id)}))
            return 0

        deadline = time.monotonic() + args.wait
        while True:
            status, last_error = conn.execute(
                sql.SQL("SELECT status, last_error FROM {}.emails WHERE id = %s").format(schema), (email_id,)
            ).fetchone()
            if status in FINAL or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        print(json.dumps({"orderId": order_id, "emailId": str(email_id), "status": status, "lastError": last_error}))
        return 0


if __name__ == "__main__":
    sys.exit(main())
