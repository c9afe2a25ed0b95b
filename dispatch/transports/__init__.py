"""Patient transport for care centres: patients and booked rides, scoped per centre."""
