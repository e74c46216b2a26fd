-- 分类分项 (issue 18): the category of use and the sub-item each meter measures, for energy analysis (see
-- voltvend_ops::MeterCategory). One row per meter, replaced when set again.
CREATE TABLE meter_categories (
    meter_id        BLOB PRIMARY KEY NOT NULL REFERENCES meters(id),
    category        TEXT NOT NULL,
    sub_item        TEXT NOT NULL
);
CREATE INDEX meter_categories_category ON meter_categories (category, sub_item);
