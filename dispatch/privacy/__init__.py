"""Data subjects' rights (Thailand PDPA, Vietnam Decree 13/2023): erasing a patient."""
