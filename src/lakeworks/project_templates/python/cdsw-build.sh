#!/bin/bash
# Runs when a model is built: install what the model needs.
pip3 install -r requirements.txt
