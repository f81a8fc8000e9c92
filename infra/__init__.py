"""What a Google Cloud project needs: the YAML read by the deploy and by the local stack, and
the deploy itself (``infra.deploy``)."""
