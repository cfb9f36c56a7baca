//! Model safetensors, labelnoise's own (metadata `architecture`) and PyTorch
//! `nn.Sequential` state_dicts (`0.weight`, ...), as `load_model_with` reads a
//! `.safetensors` path: `model_from_safetensors_with`, with and without `--activation`.
//! A model that loads must write and read back.
#![no_main]
use labelnoise_core::model_io::{
    model_from_json, model_from_safetensors_with, model_to_json, model_to_torch_safetensors,
    TorchDtype,
};
use labelnoise_core::Activation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&choice, rest)) = bytes.split_first() else {
        return;
    };
    let activation = match choice % 5 {
        0 => Some(Activation::Relu),
        1 => Some(Activation::Tanh),
        2 => Some(Activation::Logistic),
        3 => Some(Activation::Identity),
        _ => None,
    };
    if let Ok(net) = model_from_safetensors_with(rest, "model.safetensors", activation) {
        model_from_json(&model_to_json(&net), "again.json").expect("a written model reads back");
        model_from_safetensors_with(
            &model_to_torch_safetensors(&net, TorchDtype::F64),
            "again.safetensors",
            None,
        )
        .expect("an exported PyTorch model reads back");
    }
});
