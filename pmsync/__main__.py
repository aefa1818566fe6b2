from pmsync.cli import app

app()
