//! Dependencies between processes: each names another configured process,
//! and there are no cycles (a cycle could never start).

use std::collections::HashMap;

use super::locate::Locator;
use super::raw::RawProcess;
use super::ConfigError;

/// Every dependency names another configured process, and there are no
/// cycles (which could never start).
pub(super) fn check_dependencies(
    processes: &[RawProcess],
    index_of: &HashMap<&str, usize>,
    locate: &Locator<'_>,
) -> Result<(), ConfigError> {
    for (index, process) in processes.iter().enumerate() {
        for (d, dependency) in process.depends_on.iter().enumerate() {
            let target = dependency.get_ref().process.as_str();
            let key = Some(format!("process[{index}].depends_on[{d}]"));
            if target == process.name.get_ref() {
                return Err(locate.error(
                    Some(dependency.span()),
                    key,
                    format!("`{target}` depends on itself"),
                ));
            }
            if !index_of.contains_key(target) {
                return Err(locate.error(
                    Some(dependency.span()),
                    key,
                    format!("no process named `{target}`"),
                ));
            }
        }
    }
    // Depth-first search; a dependency on a process still on the stack
    // closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit(
        node: usize,
        processes: &[RawProcess],
        index_of: &HashMap<&str, usize>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<(usize, usize)> {
        marks[node] = Mark::OnStack;
        stack.push(node);
        for (d, dependency) in processes[node].depends_on.iter().enumerate() {
            let next = index_of[dependency.get_ref().process.as_str()];
            match marks[next] {
                Mark::OnStack => return Some((node, d)),
                Mark::New => {
                    if let Some(found) = visit(next, processes, index_of, marks, stack) {
                        return Some(found);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[node] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; processes.len()];
    for start in 0..processes.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack = Vec::new();
        if let Some((node, d)) = visit(start, processes, index_of, &mut marks, &mut stack) {
            let dependency = &processes[node].depends_on[d];
            let target = index_of[dependency.get_ref().process.as_str()];
            let from = stack.iter().position(|&n| n == target).unwrap_or(0);
            let mut cycle: Vec<&str> = stack[from..]
                .iter()
                .map(|&n| processes[n].name.get_ref().as_str())
                .collect();
            cycle.push(processes[target].name.get_ref());
            return Err(locate.error(
                Some(dependency.span()),
                Some(format!("process[{node}].depends_on[{d}]")),
                format!("dependency cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    Ok(())
}
