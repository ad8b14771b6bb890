"""Streamlit entry point: `streamlit run dashboard/app.py -- --help` (or `python -m dashboard --help`)."""
from __future__ import annotations

import sys

import streamlit as st

from dashboard.resources import start_exporter
from dashboard.settings import parse_settings

st.set_page_config(page_title="Skin lesion analysis", layout="wide")
try:
    settings = parse_settings(sys.argv[1:])
except SystemExit:  # argparse printed the usage and the problem on the terminal
    st.error("The dashboard's arguments are invalid: see the terminal, or `python -m dashboard --help`.")
    st.stop()
st.session_state["settings"] = settings
if settings.exporter_port:
    problem = start_exporter(settings.exporter_address, settings.exporter_port)
    if problem:
        st.sidebar.caption(problem)
page = st.navigation(
    [
        st.Page("views/analyse.py", title="Analyse", url_path="analyse", default=True),
        st.Page("views/monitor.py", title="Monitor", url_path="monitor"),
    ]
)
page.run()
