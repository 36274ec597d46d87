"""Summary of the churn data: size, churn rate, churn by contract type."""

import pandas as pd

df = pd.read_csv("data/telco-customer-churn.csv")
df["TotalCharges"] = pd.to_numeric(df["TotalCharges"], errors="coerce")

print(f"{len(df)} customers, {df['Churn'].eq('Yes').mean():.1%} churned")
print(df.groupby("Contract")["Churn"].apply(lambda s: s.eq("Yes").mean()).rename("churn rate"))
df.describe()
