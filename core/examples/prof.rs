fn main() {
    let tok = tz_core::presets::tiny_tokenizer().unwrap();
    let cfg = tz_core::presets::tiny_config();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _m = tz_core::Qwen2::new(&vs.root(), &cfg);
    let _ = std::fs::remove_dir_all("/tmp/tk3");
    tz_core::presets::write_model_dir(std::path::Path::new("/tmp/tk3"), &cfg, &vs, &tok, &serde_json::json!({})).unwrap();
}
