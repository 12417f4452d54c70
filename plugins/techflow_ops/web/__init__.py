"""The On-call view: an Airflow plugin whose FastAPI app serves pages, a JSON API and iCal feeds under /techflow."""
