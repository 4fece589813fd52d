"""Streamlit helpers shared by the pages: the store handle, run pickers, explanations
and plotly figure builders. No math here either: numbers come from analysis/ or the
store."""
