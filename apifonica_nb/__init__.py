"""apifonica_nb: investigate Apifonica call records in Jupyter."""
