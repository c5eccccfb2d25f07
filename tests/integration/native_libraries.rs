//! The GPU code of installed CUDA libraries (fixtures/envs/fatbin-cu124, built by
//! scripts/make_fatbin_envs.sh): what `compat probe` lists and how the CUDA cells use it.

use crate::util::*;

fn probe_json(env: &str) -> serde_json::Value {
    let out = compat()
        .args(["probe", "--format", "json", "--python"])
        .arg(fixture(env))
        .output()
        .expect("compat runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// The entries `cuobjdump --list-elf --list-ptx` printed for the real fatbin, named the way
/// compat names them (`sm_90` cubins, `compute_90` PTX), deduplicated.
fn cuobjdump_lists() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(fixture("fatbin/arch-variants.cuobjdump.txt")).unwrap();
    let (mut sass, mut ptx) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let name = line.rsplit(':').next().unwrap_or("").trim();
        let arch = name.split('.').find(|p| p.starts_with("sm_")).unwrap_or("");
        let (list, name) = if line.starts_with("ELF file") {
            (&mut sass, arch.to_string())
        } else if line.starts_with("PTX file") {
            (&mut ptx, arch.replacen("sm_", "compute_", 1))
        } else {
            continue;
        };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    (sass, ptx)
}

#[test]
fn probe_lists_the_gpu_code_of_every_cuda_library_as_cuobjdump_does() {
    let j = probe_json("envs/fatbin-cu124");
    let libs = j["environment"]["native_libraries"]
        .as_array()
        .expect("native_libraries");
    // libtorch_cpu.so and libbitsandbytes_cpu.so carry no GPU code: not listed.
    assert_eq!(libs.len(), 2, "{libs:?}");
    let bnb = libs
        .iter()
        .find(|l| l["package"] == "bitsandbytes")
        .expect("bitsandbytes");
    assert!(bnb["path"]
        .as_str()
        .unwrap()
        .ends_with("bitsandbytes/libbitsandbytes_cuda124.so"));
    let (sass, ptx) = cuobjdump_lists();
    assert_eq!(strings(&bnb["sass"]), sass);
    assert_eq!(strings(&bnb["ptx"]), ptx);
    let torch = libs
        .iter()
        .find(|l| l["package"] == "torch")
        .expect("torch");
    assert_eq!(strings(&torch["sass"]), ["sm_80", "sm_86", "sm_90"]);
    assert!(strings(&torch["ptx"]).is_empty());
}

#[test]
fn probe_table_lists_the_gpu_code() {
    let out = compat()
        .args(["probe", "--python"])
        .arg(fixture("envs/fatbin-cu124"))
        .output()
        .expect("compat runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("GPU code (torch)") && l.contains("sm_80 sm_86 sm_90")),
        "{text}"
    );
}
