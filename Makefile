# The two commands of the quick start, plus the benchmarks.
.PHONY: run share test lint bench data

run:  ## set up and start the app on http://localhost:8501 (this computer only)
	scripts/setup.sh app
	.venv/bin/streamlit run app.py --server.address 127.0.0.1

share:  ## start it for others on the network: a workspace per signed-in user (README: Sharing)
	scripts/setup.sh app
	NNDIGITS_SHARED=1 .venv/bin/streamlit run app.py --server.address 0.0.0.0

test:  ## set up (packages, chromium, MNIST) and run lint plus every test, browser tests included
	scripts/setup.sh test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/pytest -ra

data:  ## acquire and verify MNIST into data/
	scripts/setup.sh app
	.venv/bin/python -m core.data

bench:  ## speed and drawing-accuracy figures (installs the CPU PyTorch reference and fonts)
	scripts/setup.sh bench
	.venv/bin/python bench/train_speed.py
	.venv/bin/python bench/latency.py
	.venv/bin/python bench/threads.py
	.venv/bin/python bench/app_speed.py
	.venv/bin/python bench/app_load.py
	.venv/bin/python bench/plain_numpy.py
	.venv/bin/python bench/jobs.py
	.venv/bin/python bench/store_safety.py
	.venv/bin/python bench/preset_times.py
	.venv/bin/python bench/drawings_accuracy.py default
	.venv/bin/python bench/reading_accuracy.py
