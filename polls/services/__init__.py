"""What the portal does outside its database: push poll configurations and change their
state, read results, export votes (AWS); point numbers at the webhook (Twilio)."""
