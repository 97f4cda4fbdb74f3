//! image mount / umount, system df.

use anyhow::Result;
use berth_engine::{Engine, human_size};
use serde_json::json;

use super::images::since;
use crate::cli::{DfArgs, MountArgs};
use crate::format::{Format, align, print_out};

/// `berth image mount`.
pub fn mount(engine: &Engine, a: MountArgs) -> Result<()> {
    let path = engine.mount_image(&a.image)?;
    print_out(&format!("{}\n", path.display()));
    Ok(())
}

/// `berth image umount`.
pub fn umount(engine: &Engine, a: MountArgs) -> Result<()> {
    let img = engine.resolve(&a.image)?;
    if !engine.unmount_image(&a.image)? {
        anyhow::bail!("image {} is not mounted", a.image);
    }
    print_out(&format!("{}\n", img.id));
    Ok(())
}

fn percent(part: u64, whole: u64) -> String {
    format!("{}%", (part * 100).checked_div(whole).unwrap_or(0))
}

/// `berth system df`.
pub fn df(engine: &Engine, a: DfArgs) -> Result<()> {
    let du = engine.disk_usage()?;
    let active = du.images.iter().filter(|i| i.containers > 0).count();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": du.images.len().to_string(), "Active": active.to_string(),
            "Size": human_size(du.layers_size),
            "Reclaimable": format!("{} ({})", human_size(du.reclaimable), percent(du.reclaimable, du.layers_size))}),
        json!({"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    if !a.verbose {
        let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
        return Format::parse(a.format.as_deref()).print(
            "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            &header,
            &rows,
        );
    }
    let mut lines = vec![
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"
            .to_string(),
    ];
    for u in &du.images {
        let names: Vec<(String, String)> = if u.image.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            u.image
                .tags
                .iter()
                .map(|t| {
                    (
                        t.familiar_repository(),
                        t.tag().unwrap_or("<none>").to_string(),
                    )
                })
                .collect()
        };
        for (repo, tag) in names {
            lines.push(format!(
                "{repo}\t{tag}\t{}\t{}\t{}\t{}\t{}\t{}",
                u.image.id.short(),
                since(u.image.created),
                human_size(u.image.size),
                human_size(u.shared_size),
                human_size(u.unique_size),
                u.containers
            ));
        }
    }
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&align(&lines));
    out.push_str(&format!(
        "\nLayers: {} on disk, each stored once however many images share it; blobs kept for save/push: {}\n",
        human_size(du.layers_size),
        human_size(du.blobs_size)
    ));
    out.push_str("\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES\n");
    out.push_str("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n");
    out.push_str("\nBuild cache usage: 0B\n");
    print_out(&out);
    Ok(())
}
