"""Vehicles (VIN with check digit, plate, owner id) and the history of which battery sat in
which vehicle (`service.installation_history`); installing, swapping and removing are
lifecycle events (`backend.lifecycle.service`)."""
