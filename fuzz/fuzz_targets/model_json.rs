//! Model JSON (docs/formats.md#model-json), as `--init-model`, `analyze`, `settle`,
//! `export` and Python's `Network.load` read it: `model_from_json`. A model that loads
//! must write and read back to the same network.
#![no_main]
use labelnoise_core::model_io::{
    model_from_json, model_from_safetensors, model_to_json, model_to_safetensors,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(net) = model_from_json(text, "model.json") {
        let again = model_from_json(&model_to_json(&net), "again.json")
            .expect("a written model reads back");
        assert_eq!(again.params(), net.params());
        model_from_safetensors(&model_to_safetensors(&net), "again.safetensors")
            .expect("a written safetensors model reads back");
    }
});
