from marketplace import charts


def test_bar_chart_is_accessible_svg_with_escaped_labels():
    svg = str(charts.bar_chart([("2024.01", 3), ("<script>", 1200)], title="월별 신청 & 승인"))
    assert svg.startswith('<svg class="chart" role="img"') and "aria-labelledby=" in svg
    assert "<title id=" in svg and "월별 신청 &amp; 승인" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<title>&lt;script&gt;: 1,200</title>" in svg  # each bar names its value
    assert svg.count("<rect") == 2


def test_histogram_and_empty_charts():
    bins = [{"lower": 0, "upper": 10, "count": 4}, {"lower": 10, "upper": 20, "count": 0}]
    svg = str(charts.histogram(bins, title="금액 분포"))
    assert svg.count("<rect") == 2 and "0 – 10: 4" in svg
    assert "<svg" in str(charts.bar_chart([], title="없음"))
    assert "<svg" in str(charts.histogram([], title="없음"))
    assert str(charts.horizontal_bar_chart([("수원시", 5)], title="상위 값")).count("<rect") == 1
