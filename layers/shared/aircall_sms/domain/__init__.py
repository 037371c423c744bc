"""The domain library: pure rules and arithmetic of the gateway (segments, phone numbers, quota windows and
limits, compliance, statuses, keywords, prices, usage counts, the events mapping), with no I/O and no AWS import."""
