# The FAQ bot's local index; included from the main Makefile.
#
#   make faq-index   embed the example FAQ (layers/core/airelay/data/faq/shop_faq.yaml) into .airelay/faq-index.bin
#                    with the local multilingual embedder (no key, no network), with a progress bar; `make dev`
#                    builds it on first run and again whenever the source or the index format changes.
#
# Any other source or target: .venv/bin/python -m airelay.faq build SOURCE --to URL
# (URL: file://PATH or s3://BUCKET/KEY; --model openai/text-embedding-3-small; --float16).

FAQ_SOURCE := layers/core/airelay/data/faq/shop_faq.yaml
FAQ_INDEX := .airelay/faq-index.bin

.PHONY: faq-index

faq-index: $(FAQ_INDEX)

$(FAQ_INDEX): $(FAQ_SOURCE) layers/core/airelay/faq/index.py | venv
	@echo "==> building the FAQ index $@ from $<"
	@mkdir -p $(dir $@)
	@$(PY) -m airelay.faq build $< --to file://$@

DEV_DEPS += faq-index
