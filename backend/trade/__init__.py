"""Used-battery trade: time-limited shares with selective disclosure, transfer by consent."""
