# Customer churn AMP, the application: a table of held-out customers with their churn
# probability; each customer's page shows what pushes them towards or away from churn, and
# changing a value there re-scores them. Scoring uses the same trained model and code as the
# model endpoint (churn.explain_one); every asset is served by the app itself.

import os
from pathlib import Path

import pandas as pd
from flask import Flask, abort, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

import churn

HERE = Path.cwd() / "app"
MODEL = churn.load()
CUSTOMERS = churn.clean(pd.read_csv(churn.SAMPLE_PATH, dtype={"customerID": str}))
TITLE = os.environ.get("APP_TITLE", "Customer churn explorer")

app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
# Behind Lakeworks' path routing (/apps/<subdomain>/) the prefix arrives as X-Forwarded-Prefix.
app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1, x_prefix=1)


def record_of(customer_id):
    rows = CUSTOMERS[CUSTOMERS["customerID"] == customer_id]
    if rows.empty:
        abort(404)
    return {f: rows.iloc[0][f] for f in churn.FEATURES}, rows.iloc[0]["Churn"]


def ranked(explanation):
    biggest = max((abs(v) for v in explanation.values()), default=1.0) or 1.0
    return [
        {"feature": f, "share": v, "width": round(80 * abs(v) / biggest, 1)}
        for f, v in sorted(explanation.items(), key=lambda item: -abs(item[1]))
    ]


@app.route("/")
def table():
    rows = []
    for _, row in CUSTOMERS.iterrows():
        scored = churn.explain_one(MODEL, {f: row[f] for f in churn.FEATURES})
        rows.append(
            {
                "id": row["customerID"],
                "contract": row["Contract"],
                "internet": row["InternetService"],
                "tenure": int(row["tenure"]),
                "monthly": row["MonthlyCharges"],
                "probability": scored["probability"],
                "churned": row["Churn"],
            }
        )
    rows.sort(key=lambda r: -r["probability"])
    return render_template("table.html", title=TITLE, rows=rows)


@app.route("/customer/<customer_id>")
def customer(customer_id):
    record, churned = record_of(customer_id)
    # What-if values come in the query string (the form works without JavaScript too).
    for name in churn.FEATURES:
        if name in request.args:
            record[name] = request.args[name]
    scored = churn.explain_one(MODEL, record)
    return render_template(
        "customer.html",
        title=TITLE,
        customer_id=customer_id,
        churned=churned,
        scored=scored,
        bars=ranked(scored["explanation"]),
        choices=MODEL["choices"],
        numeric=churn.NUMERIC,
    )


@app.route("/favicon.ico")
def favicon():
    return "", 204


@app.route("/api/score", methods=["POST"])
def score():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"error": "send a JSON object with the customer's features"}), 400
    try:
        scored = churn.explain_one(MODEL, body)
    except (ValueError, TypeError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(scored | {"bars": ranked(scored["explanation"])})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["CDSW_APP_PORT"]))
