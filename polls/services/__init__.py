"""What the portal does on AWS: push poll configurations, read results."""
