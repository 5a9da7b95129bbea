"""``streammask connect apply``: puts Kafka Connect connector configs (``connectors/*.json``) through Connect's
REST API and waits until every connector and task runs. The Docker kit's one-shot ``connect-setup`` service
runs it; it works against any Connect cluster."""
