"""clientwatch: tells a freelancer, from their own inbox, which clients are becoming difficult."""
__version__ = "0.1.0"
