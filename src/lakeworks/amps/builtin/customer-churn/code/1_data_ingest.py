# Customer churn AMP, step 1: read the customer CSV with Spark and save it as a Hive table.
# The table lands in the project's metastore, where the notebook and the training job read it.

import os

from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

database = os.environ.get("HIVE_DATABASE", "default")
table = os.environ.get("HIVE_TABLE", "churn_customers")

spark = SparkSession.builder.appName("churn-ingest").getOrCreate()

text = ["customerID", "gender"]
schema = StructType(
    [StructField(name, StringType(), True) for name in text]
    + [StructField("SeniorCitizen", IntegerType(), True)]
    + [StructField(name, StringType(), True) for name in ("Partner", "Dependents")]
    + [StructField("tenure", IntegerType(), True)]
    + [
        StructField(name, StringType(), True)
        for name in (
            "PhoneService", "MultipleLines", "InternetService", "OnlineSecurity",
            "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
            "StreamingMovies", "Contract", "PaperlessBilling", "PaymentMethod",
        )
    ]
    + [StructField("MonthlyCharges", DoubleType(), True)]
    + [StructField("TotalCharges", DoubleType(), True)]
    + [StructField("Churn", StringType(), True)]
)

path = "file://" + os.path.abspath("data/telco-customer-churn.csv")
customers = spark.read.csv(path, header=True, schema=schema, nullValue=" ")
print("Rows read:", customers.count())
customers.printSchema()

spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
customers.write.format("parquet").mode("overwrite").saveAsTable(f"{database}.{table}")

print(f"Tables in {database}:")
spark.sql(f"SHOW TABLES IN {database}").show()
spark.sql(f"SELECT Churn, COUNT(*) AS customers FROM {database}.{table} GROUP BY Churn").show()
spark.stop()
