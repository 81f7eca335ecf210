from hypothesis import HealthCheck, given, settings, strategies as st
from tests.policy.test_bypass_shell import _check_against_bash, sandbox_dir  # noqa
@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="rmls -'\"\\$(){};|`<>\n\t", max_size=24))
def test_fuzz(sandbox_dir, command):
    _check_against_bash(sandbox_dir, command)
