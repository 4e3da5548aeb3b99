"""The local stack: a moto server holding the resources template.yaml declares."""
