"""Streamlit dashboard: analyse dermoscopic photos through Triton and monitor the server."""
