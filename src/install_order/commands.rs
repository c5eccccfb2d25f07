//! The shell commands of each step, for pip, uv or conda: torch's step installs torch from its
//! CUDA index and pins it in a constraints file; every later step installs under that file.

use super::{InstallOrderOptions, Tool, TorchChoice};
use crate::model::text::{quote, shell_word};

/// The constraints file that pins torch and its CUDA wheels for the later steps.
const CONSTRAINTS: &str = "compat-constraints.txt";

/// What every step's commands are made from.
pub(super) struct Commands<'a> {
    opts: &'a InstallOrderOptions,
    torch: &'a TorchChoice,
    /// torch's wheel tag (`cu124`, `cpu`).
    tag: String,
    /// PyTorch's wheel index for that tag, as a shell word.
    index: String,
    /// The interpreter, as a shell word.
    py: String,
}

impl<'a> Commands<'a> {
    pub(super) fn new(opts: &'a InstallOrderOptions, torch: &'a TorchChoice) -> Self {
        let tag = torch
            .variant
            .map(|v| v.tag())
            .unwrap_or_else(|| "cpu".into());
        let index = shell_word(&format!(
            "{}/{tag}",
            opts.torch_index.url.trim_end_matches('/')
        ));
        Commands {
            opts,
            torch,
            tag,
            index,
            py: shell_word(&opts.python),
        }
    }

    /// The step that installs torch (and the stage's other libraries), then writes the
    /// constraints file. Adds to the step's `why` and the order's `notes`.
    pub(super) fn torch_step(
        &self,
        requirements: &[String],
        why: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) -> Vec<String> {
        let (py, torch, tag) = (&self.py, self.torch, &self.tag);
        let mut commands = Vec::new();
        match self.opts.tool {
            Tool::Pip => commands.push(format!(
                "{py} -m pip install {} --index-url {}",
                quote(&torch.requirement),
                self.index
            )),
            Tool::Uv => commands.push(format!(
                "uv pip install --python {py} {} --torch-backend {}",
                quote(&torch.requirement),
                shell_word(tag)
            )),
            Tool::Conda => {
                let pkg = if torch.variant.is_none() {
                    "pytorch-cpu"
                } else {
                    "pytorch-gpu"
                };
                let mut c = format!(
                    "conda install -y -c conda-forge {}",
                    quote(&format!(
                        "{pkg}{}",
                        torch.requirement.trim_start_matches("torch")
                    ))
                );
                if let Some(v) = torch.variant {
                    c.push_str(&format!(" {}", quote(&format!("cuda-version={v}"))));
                }
                commands.push(c);
                notes.push("conda: PyTorch + CUDA from conda-forge (the seed's pip-vs-conda strategy); conda-forge's CUDA builds are its own, not PyTorch's wheels".into());
            }
        }
        let others: Vec<String> = requirements
            .iter()
            .filter(|r| !r.starts_with("torch"))
            .map(|r| quote(r))
            .collect();
        if !others.is_empty() {
            commands.push(format!("{py} -m pip install {}", others.join(" ")));
        }
        commands.push(match self.opts.tool {
            Tool::Uv => format!(
                "uv pip freeze --python {py} | grep -iE '^(torch|triton|nvidia-)' > {CONSTRAINTS}"
            ),
            _ => format!("{py} -m pip freeze | grep -iE '^(torch|triton|nvidia-)' > {CONSTRAINTS}"),
        });
        why.push(format!(
            "{CONSTRAINTS} pins torch and its CUDA wheels, so later steps cannot replace them with a CPU or other-CUDA build"
        ));
        commands
    }

    /// A step after torch's: its libraries, installed under the constraints file.
    pub(super) fn later_step(&self, requirements: &[String]) -> String {
        let py = &self.py;
        let args: Vec<String> = requirements.iter().map(|r| quote(r)).collect();
        match self.opts.tool {
            Tool::Uv => format!(
                "uv pip install --python {py} -c {CONSTRAINTS} {}",
                args.join(" ")
            ),
            _ => format!("{py} -m pip install -c {CONSTRAINTS} {}", args.join(" ")),
        }
    }
}
