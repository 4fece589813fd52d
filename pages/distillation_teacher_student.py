"""Teacher & Student: a distilled student next to its teacher (maps, spectra, similarity, accuracy)."""

from __future__ import annotations

import streamlit as st

from ui import distillation as ds
from ui.data import get_store, run_colours
from ui.download import chart
from ui.text import md_escape
from ui.widgets import epoch_slider, explain, pick_run, rerun_on_new_snapshots

store = get_store()
st.title("Teacher & Student")
st.caption("How a student's geometry comes to resemble its teacher's, or fails to. Launch runs with the "
           "**Distillation** presets on the Train page, or `python -m trainers train --teacher RUN --distill kd ...`.")

student = pick_run(store, "distill_student", label="Distilled student", where=ds.is_student, empty=(
    "No distilled run yet. On the **Train** page, the preset *Distillation: KD vs alone with 10% labels* "
    "trains a teacher and three students in one click (the students start when the teacher has finished)."))
if student is not None:
    teacher = ds.teacher_of(store, student)
    if teacher is None:
        st.warning(f"The teacher run {md_escape(student.config['teacher'])} is no longer in the store; only the "
                   "student is shown.")
    rerun_on_new_snapshots(store, ds.watched_runs(store, student, teacher))
    colours = run_colours(store, [student, teacher])
    st.caption(ds.student_caption(student, teacher))

    # -- maps
    explain(
        "the two representations, each mapped to 2-D",
        [r"h_T = f_T(x) \in \mathbb{R}^{R_T},\qquad h_S = f_S(x) \in \mathbb{R}^{R_S}"],
        "Every sample's representation (encoder output) in the teacher and in the student, coloured by label. "
        "Each map is fitted to its own model, so axes are not comparable; what compares is **which classes sit "
        "together and which are split**. UMAP maps come from the background worker (PCA meanwhile). "
        "**What to look for:** a distilled student reproduces the teacher's neighbourhoods (including its "
        "mistakes) more than a student trained alone does.",
        expanded=False,
    )
    c1, c2 = st.columns([3, 1])
    epoch = epoch_slider("Student epoch", ds.student_epochs(store, student), key="distill_epoch", container=c1)
    method = c2.radio("Map", ["PCA", "UMAP"], horizontal=True, key="distill_map")
    pair = ds.shown_pair(store, teacher, student, epoch)
    columns = dict(zip(("teacher", "student"), st.columns(2), strict=True))
    drawn = set()
    for shown in pair:
        m = ds.map_figure(store, shown, method)
        drawn.add(m.method)
        columns[shown.role].plotly_chart(m.figure, width="stretch", key=f"distill_map_{shown.role}")
        if m.note:
            columns[shown.role].caption(m.note)
    if method == "UMAP" and "PCA" in drawn:
        st.caption("A UMAP map is still being computed in the background; PCA is shown until it is ready "
                   "(the page updates itself).")
        ds.rerun_when_mapped(store, pair)

    # -- spectra and alignment-uniformity
    explain(
        "covariance spectra and alignment-uniformity of both",
        [r"C = \mathrm{Cov}\Big(\tfrac{h_i}{\lVert h_i \rVert}\Big),\ \lambda_1 \ge \lambda_2 \ge \dots",
         r"\mathcal{L}_{\text{align}} = \mathbb{E}\,\lVert z - z^+ \rVert^2,\quad "
         r"\mathcal{L}_{\text{uniform}} = \log \mathbb{E}\, e^{-2\lVert z_i - z_j \rVert^2}"],
        "Left: eigenvalues of the covariance of the row-normalised representations on the held-out split "
        "(log scale): how many directions each model uses. The student is narrower, so its spectrum is shorter. "
        "Right: each model's path over its epochs in the (uniformity, alignment) plane of its embeddings, on "
        "shared axes. **What to look for:** a student that copies its teacher's spectrum shape over its own "
        "width; paths that end near the teacher's point.",
        expanded=False,
    )
    left, right = st.columns(2)
    left.plotly_chart(ds.spectra_figure(store, pair, colours), width="stretch", key="distill_spectra")
    right.plotly_chart(ds.paths_figure(store, pair, colours), width="stretch", key="distill_au")

    # -- similarity to the teacher per epoch
    explain(
        "how similar the student's representation is to the teacher's, per epoch",
        [r"\mathrm{CKA}(H_S, H_T) = \frac{\lVert H_T^\top H_S \rVert_F^2}{\lVert H_S^\top H_S \rVert_F\,\lVert H_T^\top H_T \rVert_F}"
         r"\quad (H \text{ column-centred})",
         r"\mathrm{overlap}_{10} = \frac{1}{N}\sum_i \frac{|\mathcal{N}^S_{10}(i) \cap \mathcal{N}^T_{10}(i)|}{10}"],
        "Both on the held-out split, student at each snapshot epoch against the (fixed) teacher. **Linear CKA** "
        "(Kornblith et al. 2019) compares the two representations up to rotation and scale (1 = the same "
        "up to those), whatever their widths. The **10-NN overlap** is the fraction of each sample's 10 nearest "
        "neighbours (cosine) that the two models share; unrelated embeddings give about 10/N. "
        "**What to look for:** both rise during distillation; a student trained alone stays lower.",
    )
    similarity = ds.similarity_figure(store, student, colours.get(student.id))
    if similarity is not None:
        chart(similarity, width="stretch", key="distill_cka")
    else:
        st.info("This run has no teacher-similarity metrics yet (they come with its snapshots).")

    # -- accuracy table
    explain(
        "downstream accuracy of teacher, distilled students and students trained alone",
        [r"\text{kNN: } \hat y = \mathrm{mode}\{y_j : j \in \mathcal{N}_{20}(x)\},\qquad "
         r"\text{linear probe: } \hat y = \arg\max_c (W h + b)_c"],
        "All on the held-out split, from each run's last snapshot. *kNN* and *linear probe* use all training "
        "labels (they judge the representation). *Probe on labelled only* fits the same probes on the labelled "
        "fraction alone: the fair number when labels are scarce. *Own classifier* is the student's cross-entropy "
        "head, the model KD trains directly. *Trained alone* lists runs of the same student configuration (dataset, "
        "encoder, widths, loss, label fraction) with no teacher. **What to look for:** distilled students above "
        "the students trained alone, most clearly with few labels.",
    )
    group = ds.comparison_group(store, student, teacher)
    st.dataframe(ds.accuracy_table(group), hide_index=True, width="stretch", key="distill_table",
                 column_config=ds.ACCURACY_COLUMNS)
    st.caption("The accuracies that decide whether distillation helped with scarce labels come first: "
               "*linear, labelled* and *kNN, labelled* (probes fitted on the labelled samples only).")
    if not any(role == ds.ALONE for role, _ in group):
        st.caption("No run of the same student configuration without a teacher yet: launch one to compare.")
