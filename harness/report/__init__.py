"""Report: stored records -> pandas table + plotly chart -> one self-contained HTML file (a pure function)."""
