"""Study parameters small enough to run every notebook in seconds (shared by the study tests)."""

TINY_STUDY = {
    "g1_real_lr": "lfw",  # two real-LR domains: exercises the separate L4 G1 (the paper's variant)
    "max_steps": 2,
    "threads": 1,
    "lfw_faces": 12,
    "data": {
        "train_identities": 8,
        "images_per_identity": 2,
        "pool_identities": 4,
        "pool_images_per_identity": 4,
        "test_identities": 4,
        "test_images_per_identity": 3,
    },
    "stage1": {"batch_size": 8, "epochs": 1},
    "settings": {"batch_size": 8, "epochs": 1},
    "hrld": {"batch_size": 8, "epochs": 1},
    "hrld_source": "train",  # exercises HR-LD's training (the quick profile takes the shipped one)
    "verification": {"epochs": 1, "batch_size": 16},
}
