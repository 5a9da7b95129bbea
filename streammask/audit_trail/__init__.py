"""``streammask audit``: checks and exports of the audit topic after the fact.

``records`` parses audit records; ``chain`` checks each instance's hash chain; ``reconcile`` matches
the committed source ranges against the output's ``streammask.source.*`` headers; ``export`` renders
one row per transaction. They are pure; ``read`` is the thin Kafka side and ``commands`` the CLI glue.
"""
