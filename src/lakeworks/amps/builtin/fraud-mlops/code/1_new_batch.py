# Fraud MLOps pipeline, job "New Batch": generate the next batch of synthetic card
# transactions and append it to the project's Iceberg table (one snapshot per batch).
# "Retrain XGBoost" runs after it (its parent job), then "API Redeployment".

import os

import pyarrow as pa

import cml.data_v1 as cmldata
import fraud

rows = int(os.environ.get("BATCH_ROWS", "4000"))
seed = int(os.environ.get("FRAUD_SEED", "42"))
schema = pa.schema(
    [
        ("batch", pa.int64()),
        ("amount", pa.float64()),
        ("hour", pa.int64()),
        ("distance_km", pa.float64()),
        ("merchant_risk", pa.float64()),
        ("txn_last_24h", pa.int64()),
        ("card_age_days", pa.int64()),
        (fraud.LABEL, pa.int64()),
    ]
)

catalog = cmldata.get_connection("iceberg").get_catalog()
if catalog.table_exists(fraud.TABLE):
    table = catalog.load_table(fraud.TABLE)
else:
    table = catalog.create_table(fraud.TABLE, schema)
    print("Created the Iceberg table", fraud.TABLE)

batch = len(table.snapshots()) + 1
frame = fraud.generate(batch, rows, seed)
table.append(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
snapshot = table.current_snapshot()
print(f"Batch {batch}: {len(frame)} transactions, {int(frame[fraud.LABEL].sum())} frauds")
print(f"Mean amount {frame['amount'].mean():.2f}, mean distance {frame['distance_km'].mean():.1f} km")
print("NEW_SNAPSHOT", snapshot.snapshot_id)
