"""Planning: a composed job -> its frozen cell specs (cells.py); what a sweep would run and cost (estimate.py, for
`harness plan`)."""
