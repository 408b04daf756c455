"""Delivery: which channels an alert goes to (route), when it may go (policy), what it says
(render, templates/), and the channels that carry it (channels)."""
